"""Writes the code cells of a Jupyter notebook as one Python file in the "percent" format
(``# %% [cell N]`` before each cell, N counting code cells from 0), the form
``run_notebook.py`` reads.

    python extract_cells.py 11_training_deep_neural_networks.ipynb > handson_ml3_ch11.py

The vendored ``handson_ml3_ch11.py`` came from github.com/ageron/handson-ml3 at commit
e3f3f9e66d58cfa1d068a498433063a1d3fba9ef (2025-10-29), file
11_training_deep_neural_networks.ipynb (Apache-2.0, see LICENSE-handson-ml3)."""

import json
import sys

HEADER = '''"""The code cells of Aurélien Géron's notebook for chapter 11 of "Hands-On Machine Learning
with Scikit-Learn, Keras and TensorFlow" (3rd edition), unchanged.

Source: https://github.com/ageron/handson-ml3, 11_training_deep_neural_networks.ipynb at commit
e3f3f9e66d58cfa1d068a498433063a1d3fba9ef. Copyright Aurélien Géron, licensed under the Apache
License 2.0 (LICENSE-handson-ml3 in this folder). Extracted by extract_cells.py; run by
run_notebook.py with the imports replaced by deeptrain's."""
'''


def main(path):
    notebook = json.load(open(path, encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    out = [HEADER]
    for i, cell in enumerate(cells):
        out.append(f"# %% [cell {i}]\n" + "".join(cell["source"]).rstrip("\n") + "\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
