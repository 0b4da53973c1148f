//! Statistics for comparing runs (to be written).
