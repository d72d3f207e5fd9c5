"""duplexgen.text: everything about the words before they are spoken.

- ``config``: ``llm.*`` (LLMConfig); ``client``: chat clients (OpenAI-compatible endpoints, retries, the
  request budget); ``local``: the embedded SmolLM2 model; ``cache``: the response cache; ``prompts``:
  versioned prompt files (``text/prompts/*.txt``); ``writer``: the LLM's writing job (answers, dialogs);
- ``normalize``: written text -> speakable text (markup, code, URLs, numbers, symbols), or a reject.
"""
