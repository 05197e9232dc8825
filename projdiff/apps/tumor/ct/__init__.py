"""CT files and geometry: NIfTI and DICOM volumes in one canonical layout, label spaces, HU windows, shapes."""
