"""intern-cloudvolume: under construction."""
