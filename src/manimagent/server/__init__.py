"""`manimagent serve`: the REST adapter over `manimagent.services` (the only package importing FastAPI)."""
