"""duplexgen.training"""
