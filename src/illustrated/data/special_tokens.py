"""The special tokens every vocabulary of the book starts with, at fixed ids."""

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)  # PAD_ID matches TransformerConfig.pad_id's default of 0
