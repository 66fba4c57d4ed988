"""≥ 200 varied texts for parity: unicode, whitespace, code, numbers, very long inputs."""

from __future__ import annotations

import random

BASE = [
    "The quick brown fox jumps over the lazy dog.",
    "What is Baseten?",
    "Deep learning is a subset of machine learning.",
    "Ünïcödé téxt wíth áccents and naïve café façade",
    "日本語のテキストです。東京は大きな都市です。",
    "中文文本：今天天气很好，我们去公园散步吧。",
    "한국어 문장입니다. 임베딩 테스트.",
    "Русский текст для проверки эмбеддингов.",
    "نص عربي للاختبار من اليمين إلى اليسار",
    "עברית: בדיקה של טקסט מימין לשמאל",
    "Emoji 🚀🔥👍🏽 and flags 🇩🇪🇯🇵 and ZWJ 👨‍👩‍👧‍👦",
    "Combining marks: e\u0301 a\u0308 n\u0303 and zero\u200bwidth\u200bspaces",
    "   leading and trailing whitespace   ",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp",
    " ",
    "\n\n\n",
    "x",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "def embed(texts: list[str]) -> np.ndarray:\n    return model.encode(texts)\n",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    "<html><body><p class='x'>Hello &amp; welcome</p></body></html>",
    'fn main() { println!("{}", 42); }',
    "https://example.com/path?query=1&other=two#fragment",
    "user@example.org, +1 (555) 010-9999, 1,234,567.89 USD",
    "3.14159265358979323846264338327950288419716939937510",
    "ALL CAPS SHOUTING TEXT IS STILL TEXT",
    "MiXeD cAsE iNpUt",
    "!!!???...,,,;;;:::---___",
    "The year 2026 had 365 days; 2024 had 366.",
]

TOPICS = [
    "cats",
    "dogs",
    "rivers",
    "mountains",
    "compilers",
    "databases",
    "music",
    "history",
    "chemistry",
    "football",
]
VERBS = [
    "describe",
    "compare",
    "explain",
    "summarize",
    "question",
    "praise",
    "criticize",
    "translate",
]


def varied_texts(count: int = 240, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = list(BASE)
    while len(texts) < count - 10:
        words = [rng.choice(TOPICS + VERBS) for _ in range(rng.randint(1, 60))]
        sentence = " ".join(words)
        variant = rng.randint(0, 4)
        if variant == 1:
            sentence = sentence.upper()
        elif variant == 2:
            sentence = "  " + sentence.replace(" ", "\n", 3) + "  "
        elif variant == 3:
            sentence = sentence + " " + rng.choice(BASE)
        texts.append(sentence)
    # Very long inputs: far beyond MiniLM's 256-token limit, so they are truncated.
    for i in range(10):
        texts.append(" ".join(rng.choice(TOPICS + VERBS) for _ in range(400 + 150 * i)))
    return texts
