"""Helpers every layer may use and that know nothing about diffusion: files, seeds, packaged files."""
