"""duplexgen.training.codec: personalise the NanoCodec to the agent voice (arXiv 2505.15670, "codec personalization").

```
duplexgen generate-codec-set CONFIG   # pipeline/codec_set.py: N agent-voice utterances -> Shar train/ + heldout/
duplexgen train-codec CONFIG          # train.py: fine-tune a NeMo AudioCodecModel with Ray Train -> codec.nemo
duplexgen eval-codec HELDOUT a=x.nemo b=y.nemo   # evaluate.py: mel distance, SI-SDR, STOI, PESQ, ASR WER side by side
duplexgen train salm_duplex_paper model.pretrained_audio_codec=OUT/codec.nemo   # the frozen codec of S2S training
```

Modules: ``config`` (:class:`CodecTrainConfig`), ``data`` (segments from Shar, per rank, resumable),
``train`` (:func:`run_codec_training`), ``evaluate`` (:func:`evaluate_codecs`), ``cli`` (``register``).
"""
