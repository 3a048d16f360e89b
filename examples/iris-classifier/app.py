import gradio as gr
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

iris = load_iris()
x_train, x_test, y_train, y_test = train_test_split(iris.data, iris.target, test_size=0.25,
                                                    random_state=0)
model = RandomForestClassifier(n_estimators=100, random_state=0).fit(x_train, y_train)
print(f"trained on {len(x_train)} flowers, test accuracy {model.score(x_test, y_test):.3f}",
      flush=True)


def classify(sepal_length, sepal_width, petal_length, petal_width):
    flower = [[sepal_length, sepal_width, petal_length, petal_width]]
    probabilities = model.predict_proba(flower)[0]
    label = {name: float(p) for name, p in zip(iris.target_names, probabilities)}
    figure, axes = plt.subplots(figsize=(5, 4))
    for index, name in enumerate(iris.target_names):
        points = iris.data[iris.target == index]
        axes.scatter(points[:, 2], points[:, 3], label=name, alpha=0.6)
    axes.scatter([petal_length], [petal_width], marker="*", s=300, color="black", label="you")
    axes.set_xlabel("petal length (cm)")
    axes.set_ylabel("petal width (cm)")
    axes.legend()
    return label, figure


demo = gr.Interface(
    fn=classify,
    inputs=[gr.Number(label="Sepal length", value=5.1), gr.Number(label="Sepal width", value=3.5),
            gr.Number(label="Petal length", value=1.4), gr.Number(label="Petal width", value=0.2)],
    outputs=[gr.Label(label="Species"), gr.Plot(label="Petals")],
    title="Iris classifier",
    api_name="predict",
)
demo.launch()
