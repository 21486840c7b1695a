"""The micro-LLM task kind: a small decoder-only transformer language model trained on plain text.

- `transformer`: the model's sizes (`TransformerSpec`) and the model (`TinyGpt`, `build_transformer`).
- `tokenizer`: byte-level BPE and plain byte tokenizers behind one interface (`TextTokenizer`).
- `corpus`: reading text corpora, the Python standard library as a corpus, splits, token windows.
- `training`: one round of local training (`train_lm`) and evaluation (`evaluate_lm`).
- `generate`: sampling text from a trained model.
"""
