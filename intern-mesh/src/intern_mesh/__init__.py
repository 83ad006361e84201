"""intern-mesh: under construction."""
