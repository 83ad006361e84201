"""intern-boss: under construction."""
