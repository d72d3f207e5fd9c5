"""duplexgen.augment"""
