"""A tiny sentiment model trained at start: word weights from a few examples."""
from collections import Counter

from fastapi import FastAPI
from pydantic import BaseModel

EXAMPLES = [
    ("i love this, it is wonderful and great", 1),
    ("what a fantastic, delightful experience", 1),
    ("this is excellent, happy with it", 1),
    ("i hate this, it is terrible and awful", 0),
    ("what a horrible, disappointing experience", 0),
    ("this is bad, sad and broken", 0),
]

weights = Counter()
for text, label in EXAMPLES:
    for word in text.replace(",", " ").split():
        weights[word] += 1 if label else -1

app = FastAPI(title="Sentiment")


class Query(BaseModel):
    text: str


@app.get("/")
def index():
    return {"usage": "POST /predict {\"text\": \"...\"}"}


@app.post("/predict")
def predict(query: Query):
    score = sum(weights[w] for w in query.text.lower().replace(",", " ").split())
    return {"label": "positive" if score >= 0 else "negative", "score": score}
