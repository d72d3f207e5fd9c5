"""duplexgen.pipeline"""
