"""Seeded, on-the-fly training and evaluation data for the starattn tiny model.

Every sample mirrors a task of docs/EVAL_SPEC.md (RULER shapes) in the model's
"base" template (no chat template):

    input_context = task context            (tokenized alone, add_space_prefix)
    input_query   = task query + answer prefix (tokenized alone, add_space_prefix)
    training sequence = <s> + ids(input_context) + ids(input_query) + ids_raw(answer) + </s>

where ``answer`` is the text that follows the answer prefix (it starts with a space
unless the prefix itself ends with one, as vt's does) and ids_raw means encoding
without the extra space prefix. Samples are built from text units whose
boundaries are tokenizer chunk boundaries (before a space, around a newline), so the
token ids are assembled unit by unit and equal the tokenization of the full text
(checked by ``selftest``).
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import string
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
GRAMMAR_PATH = os.path.join(HERE, "prose_grammar.json")

TASKS = ["lm", "niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
         "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery",
         "vt", "cwe", "fwe", "copy", "repeat", "prose"]
# shortest training sequence for which a task is generated (shorter ones: another task)
MIN_LEN = {"lm": 0, "copy": 0, "repeat": 0, "prose": 0, "niah_single_1": 200, "niah_single_2": 200, "niah_multikey_2": 200,
           "niah_single_3": 400, "niah_multikey_1": 400, "niah_multivalue": 400, "fwe": 400,
           "niah_multikey_3": 700, "niah_multiquery": 700, "vt": 900, "cwe": 2000}
TASK_ID = {t: i for i, t in enumerate(TASKS)}

NIAH = {
    "niah_single_1": dict(hay="repeat", key="words", val="numbers", k=1, v=1, q=1),
    "niah_single_2": dict(hay="essay", key="words", val="numbers", k=1, v=1, q=1),
    "niah_single_3": dict(hay="essay", key="words", val="uuids", k=1, v=1, q=1),
    "niah_multikey_1": dict(hay="essay", key="words", val="numbers", k=4, v=1, q=1),
    "niah_multikey_2": dict(hay="needle", key="words", val="numbers", k=1, v=1, q=1),
    "niah_multikey_3": dict(hay="needle", key="uuids", val="uuids", k=1, v=1, q=1),
    "niah_multivalue": dict(hay="essay", key="words", val="numbers", k=1, v=4, q=1),
    "niah_multiquery": dict(hay="essay", key="words", val="numbers", k=4, v=1, q=4),
}
GEN_BUDGET = {"niah": 128, "vt": 30, "cwe": 120, "fwe": 50}

REPEAT_LINE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

NIAH_CTX = "Some special magic {type} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type} afterwards.\n"
NIAH_QUERY = "What are all the special magic {type} for {query} mentioned in the provided text?"
NIAH_PREFIX = " The special magic {type} for {query} mentioned in the provided text are"
NEEDLE = "One of the special magic {type} for {key} is: {value}."

VT_CTX = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
VT_QUERY = "Question: Find all variables that are assigned the value {value} in the text above."
VT_PREFIX = " Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value {value}, they are: "

CWE_CTX = "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\n"
CWE_QUERY = "Question: What are the 10 most common words in the above list?"
CWE_PREFIX = " Answer: The top 10 words that appear most often in the list are:"

FWE_CTX = "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\n"
FWE_QUERY = "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?"
FWE_PREFIX = " Answer: According to the coded text above, the three most frequently appeared words are:"

_SLOT = re.compile(r"\{(\w+)\}")
_ARTICLE = re.compile(r"(?<![A-Za-z])([Aa]) (?=[AEIOUaeiou])")


class Grammar:
    def __init__(self, d):
        self.d = d
        self.templates = d["templates"]
        self.lists = d["lists"]
        self.key_adj = d["key_adjectives"]
        self.key_noun = d["key_nouns"]
        self.cwe_words = d["cwe_words"]

    @classmethod
    def load(cls, path=GRAMMAR_PATH):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def sentence(self, rng: random.Random) -> str:
        t = rng.choice(self.templates)
        lists = self.lists
        s = _SLOT.sub(lambda m: rng.choice(lists[m.group(1)]), t)
        s = _ARTICLE.sub(r"\1n ", s)
        return s[0].upper() + s[1:]

    def word_key(self, rng):
        return rng.choice(self.key_adj) + "-" + rng.choice(self.key_noun)


def rand_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def confusable_value(rng, v, vtype):
    """A haystack value a copy keyed on the last few characters cannot tell from the needle value v: a uuid that
    shares one to three of v's five hex groups, in place, or a number that shares its first one to four digits
    (see hard_values in Gen.niah); never v itself."""
    if vtype == "uuids":
        groups = v.split("-")
        keep = set(rng.sample(range(5), rng.randint(1, 3)))
        r = "-".join(g if i in keep else "".join(rng.choice("0123456789abcdef") for _ in g) for i, g in enumerate(groups))
    else:
        k = rng.randint(1, 4)
        r = v[:k] + "".join(rng.choice("0123456789") for _ in v[k:])
    return r if r != v else confusable_value(rng, v, vtype)


def rand_number(rng):
    return str(rng.randint(1000000, 9999999))


def singularize(template: str) -> str:
    return template.replace("Some", "A").replace("are all", "is").replace("are", "is")


def join_query(keys):
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + ", and " + keys[-1]


class Sample:
    __slots__ = ("task", "input_context", "input_query", "answer", "outputs", "ctx_ids", "query_ids", "ans_ids")

    def __init__(self, task, input_context, input_query, answer, outputs, ctx_ids, query_ids, ans_ids):
        self.task, self.input_context, self.input_query = task, input_context, input_query
        self.answer, self.outputs = answer, outputs
        self.ctx_ids, self.query_ids, self.ans_ids = ctx_ids, query_ids, ans_ids

    def n_tokens(self):
        return len(self.ctx_ids) + len(self.query_ids) + len(self.ans_ids)


class Gen:
    """Task generators. ``max_tokens`` bounds ids(context)+ids(query)+ids(answer)."""

    def __init__(self, tok, grammar: Grammar, hard_values: float = 0.0, prose_mid: float = 0.0):
        self.tok = tok
        self.g = grammar
        self.prose_mid = prose_mid  # training: share of prose rows cut from anywhere in the corpus, without BOS
        self.hard_values = hard_values  # training: share of needle-haystack values made confusable with a needle's
        self.ucache = {}
        self.nl_id = tok.encode_raw("\n")
        assert len(self.nl_id) == 1

    # -- helpers ----------------------------------------------------------
    def enc_unit(self, s):
        """ids of a unit string that starts at a chunk boundary (cached for repeats)."""
        c = self.ucache.get(s)
        if c is None:
            c = self.tok.encode_raw(s)
            if len(self.ucache) > 200000:
                self.ucache.clear()
            self.ucache[s] = c
        return c

    def assemble(self, units, sep):
        """Join units with sep ('\\n' or ' ')."""
        return sep.join(units)

    def _finish(self, task, ctx_text, query_text, answer, outputs):
        tok = self.tok
        ctx_ids = tok.encode(ctx_text)
        q_ids = tok.encode(query_text)
        a_ids = tok.encode_raw(answer)
        return Sample(task, ctx_text, query_text, answer, outputs, ctx_ids, q_ids, a_ids)

    def _fixed_cost(self, ctx_pre, ctx_suf, query_text, answer):
        t = self.tok
        return len(t.encode(ctx_pre)) + len(t.encode_raw(ctx_suf)) + len(t.encode(query_text)) + len(t.encode_raw(answer)) + 2

    # -- natural text (corpus.py) --------------------------------------------
    corpus = None  # (ids uint16 array, document starts), set by load_corpus

    def load_corpus(self, path):
        import numpy as np
        z = np.load(path)
        self.corpus = (z["ids"], z["starts"])

    def corpus_window(self, rng, n):
        """n ids of the corpus from the start of a random document (running on into the next ones)."""
        import bisect
        if self.corpus is None:
            raise SystemExit("the prose task needs --corpus (corpus_ids.npz from corpus.py)")
        ids, starts = self.corpus
        last = bisect.bisect_right(starts, len(ids) - n) - 1
        s = int(starts[rng.randint(0, max(0, last))])
        return ids[s:s + n].tolist()

    def corpus_window_anywhere(self, rng, n):
        """n ids of the corpus from a random token (mid-sentence as often as not), like a packed pre-training row."""
        ids, _ = self.corpus
        s = rng.randint(0, max(0, len(ids) - n))
        return ids[s:s + n].tolist()

    # -- prose -------------------------------------------------------------
    def prose_ids(self, rng, n_tokens):
        """Filler prose: sentences joined by spaces, >= n_tokens ids (with prefix)."""
        g = self.g
        parts = []
        ids = []
        while len(ids) < n_tokens:
            s = g.sentence(rng)
            parts.append(s)
            ids.extend(self.tok.encode_raw(" " + s))
        return " ".join(parts), ids

    # -- NIAH --------------------------------------------------------------
    def niah(self, task, rng, max_tokens, eval_depths=False):
        cfg = NIAH[task]
        g = self.g
        vtype = cfg["val"]

        def key():
            return g.word_key(rng) if cfg["key"] == "words" else rand_uuid(rng)

        def val():
            return rand_number(rng) if vtype == "numbers" else rand_uuid(rng)

        keys = []
        while len(keys) < cfg["k"]:
            kk = key()
            if kk not in keys:
                keys.append(kk)
        values = [[val() for _ in range(cfg["v"])] for _ in keys]
        needles = [NEEDLE.format(type=vtype, key=k, value=v) for k, vs in zip(keys, values) for v in vs]
        rng.shuffle(needles)
        qidx = rng.sample(range(cfg["k"]), cfg["q"])
        qkeys = [keys[i] for i in qidx]
        answers = [v for i in qidx for v in values[i]]
        singular = cfg["q"] * cfg["v"] == 1
        ctx_t, q_t, p_t = NIAH_CTX, NIAH_QUERY, NIAH_PREFIX
        typ = vtype
        if singular:
            ctx_t, q_t, p_t = singularize(ctx_t), singularize(q_t), singularize(p_t)
            typ = vtype[:-1]
        query_str = join_query(qkeys)
        ctx_pre = ctx_t.format(type=typ)
        query_text = q_t.format(type=typ, query=query_str) + p_t.format(type=typ, query=query_str)
        answer = " " + ", ".join(answers) + "."
        budget = max_tokens - self._fixed_cost(ctx_pre, "\n", query_text, answer) + 2
        sep = "\n" if cfg["hay"] in ("repeat", "needle") else " "
        ndl_cost = sum(len(self.enc_unit(sep + n)) for n in needles)
        hb = budget - ndl_cost
        hay = cfg["hay"]
        if hay == "repeat":
            ucost = len(self.enc_unit("\n" + REPEAT_LINE))
            n = max(1, hb // ucost)
            units = [REPEAT_LINE] * n
        elif hay == "needle":
            # Training only (never eval_depths, so held-out samples are unchanged): with probability hard_values a
            # haystack value shares characters with a needle's value (confusable_value). The shipped model's
            # multikey_2/3 errors at 16K were mostly copies that began the right value and then jumped onto another
            # one sharing the last few characters (models/MODEL_CARD.md): these values make that jump cost loss.
            hard = not eval_depths and self.hard_values > 0
            answer_values = [v for vs in values for v in vs]
            units, used = [], 0
            while True:
                hv = confusable_value(rng, rng.choice(answer_values), vtype) if hard and rng.random() < self.hard_values else None
                u = NEEDLE.format(type=vtype, key=key(), value=hv if hv is not None else val())
                c = len(self.enc_unit("\n" + u))
                if used + c > hb and units:
                    break
                units.append(u)
                used += c
        else:
            units, used = [], 0
            while True:
                u = g.sentence(rng)
                c = len(self.tok.encode_raw(" " + u))
                if used + c > hb and units:
                    break
                units.append(u)
                used += c
        # insert needles
        if hay in ("repeat", "needle"):
            idx = sorted(rng.sample(range(len(units)), min(len(needles), len(units))), reverse=True)
            while len(idx) < len(needles):
                idx.append(0)
            for i, nd in zip(idx, needles):
                units.insert(i, nd)
        else:
            n = len(units)
            if eval_depths:
                depths = rng.sample([round(100 * i / 39) for i in range(40)], len(needles))
                pos = sorted(int(n * d / 100) for d in depths)
            else:
                pos = sorted(rng.randint(0, n) for _ in needles)
            for j, p in reversed(list(enumerate(pos))):
                units.insert(p, needles[j])
        while True:
            hay_text = self.assemble(units, sep)
            ctx_text = ctx_pre + hay_text + "\n"
            s = self._finish(task, ctx_text, query_text, answer, answers)
            if s.n_tokens() <= max_tokens or len(units) <= len(needles) + 1:
                return s
            # drop one haystack unit that is not a needle (from the end)
            for i in range(len(units) - 1, -1, -1):
                if units[i] not in needles:
                    del units[i]
                    break

    # -- vt ----------------------------------------------------------------
    def _vt_names(self, rng, n, k):
        out = []
        while len(out) < n:
            s = "".join(rng.choice(string.ascii_uppercase) for _ in range(k))
            if s not in out:
                out.append(s)
        return out

    def _vt_context(self, rng, names, value, n_noise, joiner):
        chain = ["VAR {} = {}".format(names[0], value)] + \
                ["VAR {} = VAR {}".format(names[i], names[i - 1]) for i in range(1, len(names))]
        if joiner == " ":
            noise = REPEAT_LINE + "\n"
        else:
            noise = REPEAT_LINE
        sents = [noise] * n_noise
        pos = sorted(rng.sample(range(len(sents)), min(len(chain), len(sents))))
        while len(pos) < len(chain):
            pos.append(len(sents))
        for j, p in enumerate(pos):
            sents.insert(p + j, chain[j])
        return sents

    def vt(self, rng, max_tokens, joiner=None):
        if joiner is None:
            joiner = " " if rng.random() < 0.7 else "\n"
        # few-shot example: 3-letter names, 5 noise units
        ex_names = self._vt_names(rng, 5, 3)
        ex_val = rng.randint(10000, 99998)
        ex_units = self._vt_context(rng, ex_names, ex_val, 5, joiner)
        ex_ctx = joiner.join(ex_units).replace(". \n", ".\n")
        example = (VT_CTX.format(context=ex_ctx) + VT_QUERY.format(value=ex_val)
                   + VT_PREFIX.format(value=ex_val) + " ".join(ex_names))
        names = self._vt_names(rng, 5, 5)
        value = rng.randint(10000, 99998)
        query_text = VT_QUERY.format(value=value) + VT_PREFIX.format(value=value)
        answer = " ".join(names)
        pre = example + "\n\n" + VT_CTX.split("{context}")[0]
        fixed = self._fixed_cost(pre, "\n", query_text, answer) - 2
        noise_u = REPEAT_LINE + "\n" if joiner == " " else REPEAT_LINE
        ucost = len(self.enc_unit(joiner + noise_u))
        chain_cost = 5 * 8
        n_noise = max(1, (max_tokens - fixed - chain_cost) // ucost)
        while True:
            units = self._vt_context(rng, names, value, n_noise, joiner)
            # assemble token-exact: units after the first are prefixed by the joiner
            ctx_body = joiner.join(units).replace(". \n", ".\n")
            ctx_text = pre + ctx_body + "\n"
            s = self._finish("vt", ctx_text, query_text, answer, list(names))
            if s.n_tokens() <= max_tokens or n_noise <= 1:
                return s
            n_noise -= max(1, (s.n_tokens() - max_tokens) // ucost)

    # -- cwe ---------------------------------------------------------------
    def _cwe_list(self, rng, words, c, u, n_common=10):
        common, unc = words[:n_common], words[n_common:]
        lst = common * c + unc * u
        rng.shuffle(lst)
        return " ".join("{}. {}".format(i + 1, w) for i, w in enumerate(lst)), common

    def cwe(self, rng, max_tokens, L=None):
        pool = self.g.cwe_words
        L = L or max_tokens
        if L < 4096:
            ex_n, ex_c, ex_u = 20, 3, 1
        else:
            ex_n, ex_c, ex_u = 40, 10, 3
        ex_words = rng.sample(pool, ex_n)
        ex_ctx, ex_ans = self._cwe_list(rng, ex_words, ex_c, ex_u)
        example = (CWE_CTX.format(context=ex_ctx) + CWE_QUERY + CWE_PREFIX + " "
                   + " ".join("{}. {}".format(i + 1, w) for i, w in enumerate(ex_ans)))
        pre = example + "\n" + CWE_CTX.split("{context}")[0]
        query_text = CWE_QUERY + CWE_PREFIX
        words_all = rng.sample(pool, len(pool))
        ans_words = words_all[:10]
        answer = " " + " ".join("{}. {}".format(i + 1, w) for i, w in enumerate(ans_words))
        fixed = self._fixed_cost(pre, "\n", query_text, answer) - 2
        avail = max_tokens - fixed
        est_entries = max(20, avail // 7)
        if L < 4096:
            c, u = 6, 1
        else:
            u = 1
            while True:
                c = 10 * u
                if (est_entries - 10 * c) / u <= 0.9 * (len(pool) - 10) or u > 50:
                    break
                u += 1
        # largest number of uncommon words that fits (binary search on exact ids)
        lo, hi = 1, len(pool) - 10
        best = None
        state = rng.getstate()
        while lo <= hi:
            mid = (lo + hi) // 2
            rng.setstate(state)
            words = ans_words + words_all[10:10 + mid]
            body, common = self._cwe_list(rng, words, c, u)
            s = self._finish("cwe", pre + body + "\n", query_text, answer, list(ans_words))
            if s.n_tokens() <= max_tokens:
                best = s
                lo = mid + 1
            else:
                hi = mid - 1
        if best is None:
            rng.setstate(state)
            body, common = self._cwe_list(rng, ans_words + words_all[10:11], 1, 1)
            best = self._finish("cwe", pre + body + "\n", query_text, answer, list(ans_words))
        return best

    # -- fwe ---------------------------------------------------------------
    def fwe(self, rng, max_tokens, L=None, alpha=2.0):
        L = L or max_tokens
        vsize = max(8, L // 50)
        vocab = set()
        while len(vocab) < vsize:
            vocab.add("".join(rng.choice(string.ascii_lowercase) for _ in range(6)))
        vocab = sorted(vocab)
        rng.shuffle(vocab)
        vocab[0] = "..."
        zeta = math.pi ** 2 / 6
        ans = vocab[1:4]
        query_text = FWE_QUERY + FWE_PREFIX
        answer = " " + " ".join(ans)
        pre = FWE_CTX.split("{context}")[0]

        def build(N):
            cnt = [int(N * (k ** -alpha) / zeta) for k in range(1, len(vocab) + 1)]
            words = [w for w, c in zip(vocab, cnt) for _ in range(c)]
            r2 = random.Random(rng.random())
            r2.shuffle(words)
            return self._finish("fwe", pre + " ".join(words) + "\n", query_text, answer, list(ans))

        lo, hi, best = 8, max(16, max_tokens), None
        state = rng.getstate()
        while lo <= hi:
            mid = (lo + hi) // 2
            rng.setstate(state)
            s = build(mid)
            if s.n_tokens() <= max_tokens:
                best, lo = s, mid + 1
            else:
                hi = mid - 1
        if best is None:
            rng.setstate(state)
            best = build(8)
        return best

    # -- dispatch ----------------------------------------------------------
    def sample(self, task, rng, max_tokens, L=None, eval_mode=False):
        if task in NIAH:
            return self.niah(task, rng, max_tokens, eval_depths=eval_mode)
        if task == "vt":
            return self.vt(rng, max_tokens, joiner=" " if eval_mode else None)
        if task == "cwe":
            return self.cwe(rng, max_tokens, L)
        if task == "fwe":
            return self.fwe(rng, max_tokens, L)
        raise ValueError(task)


def gen_budget(task):
    return GEN_BUDGET["niah" if task.startswith("niah") else task]


# ---------------------------------------------------------------- training batches
DEFAULT_MIX = {"lm": 0.06, "copy": 0.10, "niah_single_1": 0.08, "niah_single_2": 0.09, "niah_single_3": 0.08,
               "niah_multikey_1": 0.10, "niah_multikey_2": 0.09, "niah_multikey_3": 0.09,
               "niah_multivalue": 0.08, "niah_multiquery": 0.08, "vt": 0.09, "cwe": 0.03, "fwe": 0.03}
# first part of a from-scratch run: dense induction data (repeat) and the easy needles at short
# lengths, so that retrieval heads form before the long contexts come (TRAINING_LOG.md, 4th run)
WARM_MIX = {"repeat": 0.40, "lm": 0.10, "copy": 0.05, "niah_single_1": 0.12, "niah_single_2": 0.12,
            "niah_multikey_1": 0.07, "niah_multikey_2": 0.08, "niah_single_3": 0.06}
# stage-1 mixture (first run, no copy task)
STAGE1_MIX = {"lm": 0.10, "niah_single_1": 0.07, "niah_single_2": 0.09, "niah_single_3": 0.09,
              "niah_multikey_1": 0.11, "niah_multikey_2": 0.09, "niah_multikey_3": 0.10,
              "niah_multivalue": 0.08, "niah_multiquery": 0.08, "vt": 0.11, "cwe": 0.04, "fwe": 0.04}


def make_batch(gen: Gen, seed, L, B, mix=None, min_frac=0.8):
    """B sequences of at most L+1 ids: arr [B, L+1] int32 (pad = </s>), info [B, 4]
    = (task id, length, answer start, answer end incl. </s>) with array indices."""
    import numpy as np
    mix = mix or DEFAULT_MIX
    names = list(mix)
    w = [mix[n] for n in names]
    rng = random.Random(seed)
    arr = np.full((B, L + 1), 2, dtype=np.int32)
    info = np.zeros((B, 4), dtype=np.int32)
    V = gen.tok.n_vocab
    for b in range(B):
        T = rng.randint(int(min_frac * (L + 1)), L + 1)
        while True:
            task = rng.choices(names, w)[0]
            if MIN_LEN.get(task, 0) > L:
                continue
            if task == "lm":
                _, ids = gen.prose_ids(rng, T - 1)
                ids = [1] + ids[:T - 1]
                a0 = a1 = 0
            elif task == "prose":
                # a window of the natural-text corpus (corpus.py) that begins at a document, BOS at position 0;
                # with --prose-mid a share of rows start at a random token and have no BOS, as packed pre-training
                # rows of real LMs do, so that whatever token comes first is what the model learns to sink on
                if gen.prose_mid > 0 and rng.random() < gen.prose_mid:
                    ids = gen.corpus_window_anywhere(rng, T)
                else:
                    ids = [1] + gen.corpus_window(rng, T - 1)
                a0 = a1 = 0
            elif task == "copy":
                # induction signal: a random id sequence, prose, the same sequence again (loss on the repeat)
                n = rng.randint(8, max(8, min(256, (T - 2) // 3)))
                # COPY_ALPHABET=small draws from the 96 single-character pieces (ids 259..354): a small
                # alphabet is what let induction heads form in the CPU experiments (TRAINING_LOG.md).
                hi = 355 if os.environ.get("COPY_ALPHABET") == "small" else V
                seq = [rng.randrange(259, hi) for _ in range(n)]
                rest = T - 1 - 2 * n
                _, pro = gen.prose_ids(rng, max(0, rest))
                # COPY_GAP=0 puts the two copies side by side (all prose before them): a diagnostic.
                cut = rest if os.environ.get("COPY_GAP") == "0" else rng.randint(0, max(0, rest))
                ids = [1] + pro[:cut] + seq + pro[cut:rest] + seq
                a0 = len(ids) - n
                a1 = len(ids)
            elif task == "repeat":
                # a random sequence of 8-64 pieces repeated to fill the row, loss on every token after
                # the first period: the dense induction signal that makes induction heads form within
                # ~1,000 steps (bisect_copy.py; the sparse "copy" task alone never did, TRAINING_LOG.md).
                # Mostly the 96 single-character pieces, sometimes any normal piece.
                n = rng.randint(8, max(8, min(64, (T - 2) // 2)))
                hi = V if rng.random() < 0.3 else 355
                seq = [rng.randrange(259, hi) for _ in range(n)]
                ids = [1] + (seq * ((T - 1) // n + 1))[:T - 1]
                a0 = 2 + n  # seq[0] after the first period is not predictable; seq[1] on are
                a1 = len(ids)
            else:
                s = gen.sample(task, rng, T - 2, L=T)
                ids = [1] + s.ctx_ids + s.query_ids + s.ans_ids + [2]
                a0 = 1 + len(s.ctx_ids) + len(s.query_ids)
                a1 = len(ids)
            if len(ids) <= L + 1:
                break
        arr[b, :len(ids)] = ids
        info[b] = (TASK_ID[task], len(ids), a0, a1)
    return arr, info


# ---------------------------------------------------------------- BPE corpus
def text_for_bpe(rng, g: Grammar):
    """Representative texts of every task (no tokenizer needed)."""
    out = []
    for task, cfg in NIAH.items():
        vt_ = cfg["val"]
        keys = [g.word_key(rng) if cfg["key"] == "words" else rand_uuid(rng) for _ in range(cfg["k"])]
        vals = [rand_number(rng) if vt_ == "numbers" else rand_uuid(rng) for _ in keys]
        sing = cfg["q"] * cfg["v"] == 1
        ctx_t, q_t, p_t, typ = NIAH_CTX, NIAH_QUERY, NIAH_PREFIX, vt_
        if sing:
            ctx_t, q_t, p_t, typ = singularize(ctx_t), singularize(q_t), singularize(p_t), vt_[:-1]
        qs = join_query(keys[:cfg["q"]])
        out.append(ctx_t.format(type=typ))
        out.append(q_t.format(type=typ, query=qs) + p_t.format(type=typ, query=qs) + " " + ", ".join(vals) + ".")
        for k, v in zip(keys, vals):
            out.append(NEEDLE.format(type=vt_, key=k, value=v))
        if cfg["hay"] == "repeat":
            out.append("\n".join([REPEAT_LINE] * 3))
    for _ in range(3):
        out.append(NEEDLE.format(type="numbers", key=g.word_key(rng), value=rand_number(rng)))
    names = ["".join(rng.choice(string.ascii_uppercase) for _ in range(5)) for _ in range(5)]
    v = rng.randint(10000, 99998)
    out.append(VT_CTX.format(context="VAR {} = {}\n VAR {} = VAR {}".format(names[0], v, names[1], names[0])))
    out.append(VT_QUERY.format(value=v) + VT_PREFIX.format(value=v) + " ".join(names))
    words = rng.sample(g.cwe_words, 30)
    out.append(CWE_CTX.format(context=" ".join("{}. {}".format(i + 1, w) for i, w in enumerate(words))))
    out.append(CWE_QUERY + CWE_PREFIX)
    coded = ["".join(rng.choice(string.ascii_lowercase) for _ in range(6)) for _ in range(5)]
    out.append(FWE_CTX.format(context=" ".join(coded + ["...", "...", "..."])))
    out.append(FWE_QUERY + FWE_PREFIX + " " + " ".join(coded[:3]))
    return out


def selftest(n_each=3, L=3000):
    """Assembled ids must equal the tokenization of the texts."""
    import sys
    sys.path.insert(0, HERE)
    from tokenizer import Tokenizer
    tok = Tokenizer.load()
    gen = Gen(tok, Grammar.load())
    rng = random.Random(5)
    bad = 0
    for task in TASKS[1:]:
        if task in ("copy", "repeat", "prose"):  # no text sample: ids built in make_batch (prose needs --corpus)
            continue
        for i in range(n_each):
            for em in (False, True):
                s = gen.sample(task, rng, L - gen_budget(task), L=L, eval_mode=em)
                ok = (s.ctx_ids == tok.encode_slow(s.input_context) and s.query_ids == tok.encode_slow(s.input_query)
                      and s.ans_ids == tok.spm_raw(s.answer.replace(" ", "\u2581")))
                if not ok:
                    bad += 1
                    print("MISMATCH", task)
                if s.n_tokens() > L - gen_budget(task):
                    bad += 1
                    print("TOO LONG", task, s.n_tokens())
                if "special magic" in s.input_context and not task.startswith("niah"):
                    bad += 1
                for o in s.outputs:
                    assert o in s.answer, (task, o, s.answer)
            print(task, "tokens", s.n_tokens(), "of", L - gen_budget(task), repr(s.answer[:60]))
    text, _ = gen.prose_ids(rng, 20000)
    assert "special magic" not in text.lower()
    print("data selftest", "OK" if bad == 0 else "FAILED %d" % bad)
    return bad == 0


if __name__ == "__main__":
    selftest()
