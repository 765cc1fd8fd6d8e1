"""Users' uploads on the renderer side: the check that decodes each one as it arrives."""
