"""Run inside a venv with ai-edge-litert (LiteRT, TensorFlow Lite's interpreter): a .tflite
embedding network on the normalised N×H×W×3 float32 crops of a .npy file, in batches of the
model's fixed batch size (the last one padded by repeating a crop). Writes the outputs to a
.npy file and prints one JSON object."""

import json
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

model, crops_file, out_file = sys.argv[1:4]
crops = np.load(crops_file).astype(np.float32)
interpreter = Interpreter(model_path=model, num_threads=1)
interpreter.allocate_tensors()
given, = interpreter.get_input_details()
returned, = interpreter.get_output_details()
batch = int(given["shape"][0])
outputs = []
for start in range(0, len(crops), batch):
    chunk = crops[start : start + batch]
    padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
    interpreter.set_tensor(given["index"], padded)
    interpreter.invoke()
    outputs.append(interpreter.get_tensor(returned["index"])[: len(chunk)].copy())
np.save(out_file, np.concatenate(outputs))
print(json.dumps({"input": given["name"], "input_shape": given["shape"].tolist(),
                  "output": returned["name"], "output_shape": returned["shape"].tolist()}))
