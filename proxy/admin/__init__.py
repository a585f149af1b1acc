"""The admin HTTP port: health, metrics and status (app.py) and the phase API mounted behind the
same token (admin_phases.py)."""
