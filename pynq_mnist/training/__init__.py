"""Quantisation and training (the only place torch is imported: :mod:`.train`)."""
