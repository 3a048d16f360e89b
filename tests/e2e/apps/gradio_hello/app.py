import os

import gradio as gr

print("hello from the app, space", os.environ.get("SPACE_ID"), flush=True)


def greet(name):
    return f"Hello {name}!"


demo = gr.Interface(fn=greet, inputs="text", outputs="text", api_name="predict")
demo.launch()
