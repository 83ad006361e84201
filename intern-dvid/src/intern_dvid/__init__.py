"""intern-dvid: under construction."""
