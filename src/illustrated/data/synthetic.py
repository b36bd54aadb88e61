"""The book's built-in translation task: English number words to German number words.

German says the units before the tens: 21 is "twenty-one" in English but "einundzwanzig"
(one-and-twenty) in German. Written as tokens, one German token per English token, the task
is a permutation of the source words that is not monotonic::

    twenty - one thousand three hundred forty - five
    ein und zwanzig tausend drei hundert fünf und vierzig

so a model can only translate it if its encoder-decoder attention learns to look back at the
right source word. Every target token translates exactly one source token, and the task
stores that alignment, so a test can check where the trained model's cross-attention points.

Everything is generated in code from a seed: no download, the same examples for the same seed,
and train, validation and test splits that never share a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from illustrated.data.vocab import Vocabulary

__all__ = [
    "TranslationExample",
    "TranslationTask",
    "translate_number",
    "make_number_task",
    "reordered_positions",
    "english_text",
    "german_text",
    "MAX_NUMBER",
    "LEXICON_SIZE",
]

MAX_NUMBER = 999_999  # the largest number the task can spell: two groups of three digits
LEXICON_SIZE = 100  # the numbers 0..99, which make_number_task always puts in the training split

_EN_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
             "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

# German units as they appear inside a compound ("ein" in "einundzwanzig", "einhundert");
# a number that ends in a lone 1 is spelt "eins" instead.
_DE_ONES = ("null", "ein", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
_DE_TEENS = ("zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
             "achtzehn", "neunzehn")
_DE_TENS = ("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig")

HYPHEN, AND = "-", "und"  # the joints of "twenty-one" and "einundzwanzig", aligned with each other


@dataclass(frozen=True)
class TranslationExample:
    """One sentence pair of the task.

    Attributes:
        number: the number both sentences spell.
        source: the English tokens, e.g. ``("twenty", "-", "one")``.
        target: the German tokens, e.g. ``("ein", "und", "zwanzig")``.
        alignment: for each target token, the index of the source token it translates;
            here ``(2, 1, 0)``. Source and target have the same length and the alignment
            is a permutation of ``range(len(source))``.
    """

    number: int
    source: tuple[str, ...]
    target: tuple[str, ...]
    alignment: tuple[int, ...]

    @property
    def source_text(self) -> str:
        """The English sentence as it is written, e.g. "twenty-one"."""
        return english_text(self.source)

    @property
    def target_text(self) -> str:
        """The German sentence as it is written, e.g. "einundzwanzig"."""
        return german_text(self.target)


def english_text(tokens: Sequence[str]) -> str:
    """Join English number tokens as they are written: spaces between words, none around the hyphen."""
    return " ".join(tokens).replace(f" {HYPHEN} ", HYPHEN)


def german_text(tokens: Sequence[str]) -> str:
    """Join German number tokens as they are written: one word with no spaces, e.g. "einundzwanzig"."""
    return "".join(tokens)


def _spell_below_hundred(value: int, final: bool, source: list, target: list, alignment: list) -> None:
    """Append the words of 1..99 to both sentences; ``final`` is True where the number ends (1 is "eins")."""
    if value < 10:
        source.append(_EN_ONES[value])
        target.append("eins" if value == 1 and final else _DE_ONES[value])
        alignment.append(len(source) - 1)
    elif value < 20:
        source.append(_EN_TEENS[value - 10])
        target.append(_DE_TEENS[value - 10])
        alignment.append(len(source) - 1)
    elif value % 10 == 0:
        source.append(_EN_TENS[value // 10])
        target.append(_DE_TENS[value // 10])
        alignment.append(len(source) - 1)
    else:
        # English: tens - units.  German: units und tens.  The reordering of the task.
        tens_index = len(source)
        source.extend([_EN_TENS[value // 10], HYPHEN, _EN_ONES[value % 10]])
        target.extend([_DE_ONES[value % 10], AND, _DE_TENS[value // 10]])
        alignment.extend([tens_index + 2, tens_index + 1, tens_index])


def _spell_below_thousand(value: int, final: bool, source: list, target: list, alignment: list) -> None:
    """Append the words of 1..999, as "three hundred forty - two" and "drei hundert zwei und vierzig"."""
    hundreds, rest = divmod(value, 100)
    if hundreds:
        source.extend([_EN_ONES[hundreds], "hundred"])
        target.extend([_DE_ONES[hundreds], "hundert"])
        alignment.extend([len(source) - 2, len(source) - 1])
    if rest:
        _spell_below_hundred(rest, final, source, target, alignment)


def translate_number(number: int) -> TranslationExample:
    """Spell ``number`` (0 to 999,999) in English and German tokens, with the word alignment.

    English follows the American style without "and" ("one hundred one"); German writes
    compounds as separate tokens ("ein hundert eins" for "einhunderteins").

    Example::

        translate_number(21)  # source ('twenty', '-', 'one'), target ('ein', 'und', 'zwanzig'),
                              # alignment (2, 1, 0)
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise TypeError(f"number must be an integer, got {number!r}")
    number = int(number)
    if not 0 <= number <= MAX_NUMBER:
        raise ValueError(f"number must lie in [0, {MAX_NUMBER:,}], got {number:,}")
    source: list[str] = []
    target: list[str] = []
    alignment: list[int] = []
    if number == 0:
        source.append(_EN_ONES[0])
        target.append(_DE_ONES[0])
        alignment.append(0)
    thousands, rest = divmod(number, 1000)
    if thousands:
        _spell_below_thousand(thousands, False, source, target, alignment)
        source.append("thousand")
        target.append("tausend")
        alignment.append(len(source) - 1)
    if rest:
        _spell_below_thousand(rest, True, source, target, alignment)
    return TranslationExample(number, tuple(source), tuple(target), tuple(alignment))


def reordered_positions(example: TranslationExample) -> list[int]:
    """Return the target positions whose source word sits elsewhere, the words a model must reorder.

    In "ein und zwanzig" <- "twenty - one" these are 0 ("ein" translates "one", source position 2)
    and 2 ("zwanzig" translates "twenty", position 0); "und" translates "-" at its own position.
    """
    return [position for position, source_index in enumerate(example.alignment) if source_index != position]


def _all_words(tables: Sequence[Sequence[str]], extra: Sequence[str]) -> list[str]:
    words: list[str] = []
    for table in tables:
        words.extend(word for word in table if word and word not in words)
    words.extend(word for word in extra if word not in words)
    return words


def _sample_numbers(rng: np.random.Generator, count: int, low: int, high: int) -> np.ndarray:
    """Draw ``count`` distinct numbers from low..high, each digit count equally likely where possible.

    Uniform draws would be almost all six-digit numbers. Each number gets the weight
    1 / (how many numbers in low..high share its digit count). Keeping the ``count`` largest
    keys ``u ** (1 / weight)``, with ``u`` uniform in (0, 1), samples without replacement in
    proportion to the weights. A digit count with fewer numbers than its share is taken whole.
    """
    numbers = np.arange(low, high + 1)
    digits = 1 + sum((numbers >= 10 ** power).astype(int) for power in range(1, 7))  # 0 has one digit
    class_sizes = np.bincount(digits)
    weights = 1.0 / class_sizes[digits]
    # log(u) / weight orders the same as u ** (1 / weight) and does not underflow.
    keys = np.log(rng.random(numbers.size)) / weights
    chosen = np.argsort(-keys, kind="stable")[:count]
    return numbers[chosen]


@dataclass
class TranslationTask:
    """The three splits of the number task and the vocabularies of its two languages.

    ``train``, ``validation`` and ``test`` are lists of :class:`TranslationExample` with no number
    in common. The vocabularies contain every word the task can produce, whatever the sample,
    so token ids do not depend on the seed.
    """

    train: list[TranslationExample]
    validation: list[TranslationExample]
    test: list[TranslationExample]
    src_vocab: Vocabulary
    tgt_vocab: Vocabulary
    seed: int
    max_number: int
    splits: tuple[str, ...] = field(default=("train", "validation", "test"), init=False, repr=False)

    def split(self, name: str) -> list[TranslationExample]:
        """Return the examples of the split "train", "validation" or "test"."""
        if name not in self.splits:
            raise ValueError(f"unknown split {name!r}; use one of {', '.join(self.splits)}")
        return getattr(self, name)

    def pairs(self, name: str) -> list[tuple[list[int], list[int]]]:
        """Return a split as ``(source ids, target ids)`` pairs, without ``<bos>`` or ``<eos>``.

        :func:`illustrated.data.make_batch` adds them when it builds the decoder's input and output.
        """
        return [(self.src_vocab.encode(example.source), self.tgt_vocab.encode(example.target))
                for example in self.split(name)]

    def max_source_length(self) -> int:
        """Return the length of the longest source sentence over all splits, in tokens."""
        return max(len(example.source) for name in self.splits for example in self.split(name))

    def __repr__(self) -> str:
        return (f"TranslationTask(numbers 0..{self.max_number:,}, seed={self.seed}: "
                f"{len(self.train)} train, {len(self.validation)} validation, {len(self.test)} test; "
                f"vocabularies of {len(self.src_vocab)} English and {len(self.tgt_vocab)} German tokens)")


def make_number_task(seed: int = 0, num_train: int = 6000, num_validation: int = 500,
                     num_test: int = 1000, max_number: int = MAX_NUMBER) -> TranslationTask:
    """Generate the English-to-German number task: three splits with no number in common.

    Every number below 100 goes to the training split. These are the task's lexicon, the words
    and the "twenty-one" -> "ein und zwanzig" pattern that all longer numbers are built from,
    just as a learner of German is taught them before anything else. The remaining examples
    are drawn from 100..``max_number`` so that each digit count (3 to 6 digits) is about equally
    common, because uniform draws would be almost all six-digit numbers. The validation and test
    splits therefore measure whether a model composes the words it has seen into numbers it
    has not seen. The order of the examples in each split is random, and the same arguments
    always give the same task.

    Args:
        seed: seed of the generator that picks and shuffles the numbers.
        num_train: the size of the training split, at least 100 (the numbers below 100).
        num_validation, num_test: the sizes of the other splits (validation may be 0).
        max_number: the largest number to spell, from 100 to 999,999.

    Raises:
        ValueError: if the splits ask for more distinct numbers than 0..max_number holds.
    """
    for name, value in (("seed", seed), ("num_train", num_train), ("num_validation", num_validation),
                        ("num_test", num_test), ("max_number", max_number)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if num_train < LEXICON_SIZE:
        raise ValueError(f"num_train must be at least {LEXICON_SIZE}, the numbers below 100; got {num_train}")
    if num_test < 1:
        raise ValueError(f"num_test must be at least 1, got {num_test}")
    if not LEXICON_SIZE <= max_number <= MAX_NUMBER:
        raise ValueError(f"max_number must lie in [{LEXICON_SIZE}, {MAX_NUMBER:,}], got {max_number:,}")
    total = num_train + num_validation + num_test
    if total > max_number + 1:
        raise ValueError(
            f"the splits ask for {total:,} distinct numbers but 0..{max_number:,} contains only {max_number + 1:,}; "
            f"raise max_number or make the splits smaller"
        )

    rng = np.random.default_rng(seed)
    drawn = _sample_numbers(rng, total - LEXICON_SIZE, LEXICON_SIZE, max_number)
    num_drawn_train = num_train - LEXICON_SIZE
    train_numbers = np.concatenate([np.arange(LEXICON_SIZE), drawn[:num_drawn_train]])
    rng.shuffle(train_numbers)
    validation_numbers = drawn[num_drawn_train:num_drawn_train + num_validation]
    test_numbers = drawn[num_drawn_train + num_validation:]

    def spell(numbers) -> list[TranslationExample]:
        return [translate_number(int(number)) for number in numbers]

    src_vocab = Vocabulary(_all_words([_EN_ONES, _EN_TEENS, _EN_TENS], [HYPHEN, "hundred", "thousand"]))
    tgt_vocab = Vocabulary(_all_words([_DE_ONES, _DE_TEENS, _DE_TENS], ["eins", AND, "hundert", "tausend"]))
    return TranslationTask(
        train=spell(train_numbers),
        validation=spell(validation_numbers),
        test=spell(test_numbers),
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        seed=int(seed),
        max_number=int(max_number),
    )
