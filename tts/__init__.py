"""duplexgen.tts"""
