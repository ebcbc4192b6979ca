#!/usr/bin/env python3
"""Unit tests of score.py's parsing and scoring on hand-made `diagnose --json` output.

Run: python3 bench/diagnosis/test_score.py (tests/diagnosis_bench.rs runs it too).
"""
import argparse
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score  # noqa: E402


def report(*ids, warnings=()):
    return json.dumps({
        "steps": 300,
        "warnings": [{"id": w, "message": "m"} for w in warnings],
        "verdicts": [{"id": i, "layer": "dense", "evidence": "e", "fix": "f"} for i in ids],
    })


class ParseTest(unittest.TestCase):
    def test_json_contract(self):
        ids, warnings, steps = score.parse_json_report("Training ...\n" + report("dead_relus", warnings=["unscaled_inputs"]))
        self.assertEqual(ids, ["dead_relus"])
        self.assertEqual(warnings, ["unscaled_inputs"])
        self.assertEqual(steps, 300)

    def test_json_missing_key_is_an_error(self):
        bad = json.dumps({"steps": 3, "verdicts": []})
        with self.assertRaises(ValueError):
            score.parse_json_report(bad)
        bad = json.dumps({"steps": 3, "warnings": [], "verdicts": [{"id": "x"}]})
        with self.assertRaises(ValueError):
            score.parse_json_report(bad)

    def test_text_output(self):
        out = "Step 3:\nVerdicts (after all 300 steps):\n- saturation: 52%\n    why: w\n- healthy_gradients: ok\n"
        self.assertEqual(score.parse_text_report(out)[0], ["saturation", "healthy_gradients"])


class ScoreTest(unittest.TestCase):
    def test_recall_precision_and_false_positives(self):
        cases = [
            {"id": "a", "kind": "broken", "labels": "vanishing_gradients;saturation"},
            {"id": "b", "kind": "broken", "labels": "exploding_gradients;divergence"},
            {"id": "c", "kind": "broken", "labels": "output_loss_mismatch"},
            {"id": "h1", "kind": "healthy", "labels": "healthy"},
            {"id": "h2", "kind": "healthy", "labels": "healthy"},
        ]
        results = {
            # A hit through an accepted label, plus a wrong extra verdict (counted once).
            "a": {"verdicts": ["saturation", "dead_relus", "dead_relus"]},
            "b": {"verdicts": ["divergence"]},
            "c": {"verdicts": ["healthy"]},
            "h1": {"verdicts": ["healthy"]},
            "h2": {"verdicts": ["saturation"]},
        }
        s = score.score(cases, results)
        self.assertEqual((s["hits"], s["broken"]), (2, 3))
        # Non-healthy verdicts: saturation, dead_relus (a), divergence (b), saturation (h2).
        self.assertEqual((s["correct"], s["verdicts"]), (2, 4))
        self.assertEqual((s["healthy_flagged"], s["healthy"]), (1, 2))
        self.assertEqual(s["classes"]["vanishing_gradients"]["hits"], 1)
        self.assertEqual(s["classes"]["output_loss_mismatch"]["hits"], 0)
        self.assertEqual((s["classes"]["saturation"]["correct"], s["classes"]["saturation"]["fired"]), (1, 2))

    def test_doctor_target(self):
        case = {"control": "h", "target": ""}
        t = score.target_of(case, {}, {"h": {"metric": "accuracy", "value": 0.9}})
        self.assertAlmostEqual(t[1], 0.87)
        t = score.target_of({"control": "", "target": "loss 9766327.8"}, {}, {})
        self.assertEqual(t[:2], ("loss", 9766327.8))

    def test_step_budget(self):
        self.assertEqual(score.steps_of({"steps": "1800"}, None), 1800)
        self.assertEqual(score.steps_of({"steps": ""}, None), score.DEFAULT_STEPS)
        self.assertEqual(score.steps_of({"steps": "1800"}, 300), 300)

    def test_doctor_budget(self):
        # The doctor's trials run the case's own budget unless --doctor-steps is given.
        args = argparse.Namespace(doctor_steps=None, steps=None)
        self.assertEqual(score.doctor_budget({"steps": "300"}, args), 300)
        args.doctor_steps = 2000
        self.assertEqual(score.doctor_budget({"steps": "300"}, args), 2000)

    def test_budget_copies_never_bind(self):
        with tempfile.TemporaryDirectory() as work:
            path = score.budget_copies(work)("at_mnist_lenet_seed")
            with open(path) as f:
                text = f.read()
            self.assertIn("epochs = 100000", text)
            self.assertTrue(os.path.isdir(os.path.join(work, "data")))
            # A second call in the same directory keeps the data link.
            score.budget_copies(work)("at_blob_seed")

    def test_budgets_in_the_manifest(self):
        import budgets
        for c in score.read_cases(os.path.join(score.HERE, "cases.csv")):
            if c["kind"] == "skipped":
                continue
            steps = int(c["steps"])
            self.assertTrue(budgets.MIN_STEPS <= steps <= budgets.MAX_STEPS, c["id"])
            self.assertTrue(c["steps_source"], c["id"])
            # The recorded budget is the one budgets.py computes from the spec now.
            self.assertEqual(budgets.budget(c["id"]), (steps, c["steps_source"]), c["id"])

    def test_reaches(self):
        acc = ("accuracy", 0.8, "")
        self.assertTrue(score.reaches({"metric": "accuracy", "value": 0.81, "diverged": False}, acc))
        self.assertFalse(score.reaches({"metric": "accuracy", "value": 0.79, "diverged": False}, acc))
        self.assertFalse(score.reaches({"metric": "accuracy", "value": None, "diverged": True}, acc))
        self.assertTrue(score.reaches({"metric": "loss", "value": 1.0, "diverged": False}, ("loss", 2.0, "")))



class ReproducesTest(unittest.TestCase):
    def test_the_rule(self):
        acc = lambda v, diverged=False: {"metric": "accuracy", "value": v, "diverged": diverged}
        bar = ("accuracy", 0.84, "control at 0.87 minus 3 points")
        self.assertEqual(score.reproduces(acc(0.75), bar), "yes")
        self.assertEqual(score.reproduces(acc(0.85), bar), "no")
        self.assertEqual(score.reproduces(acc(0.99, diverged=True), bar), "yes")
        loss = {"metric": "loss", "value": 2.0, "diverged": False}
        self.assertEqual(score.reproduces(loss, ("loss", 1.0, "fixed loss")), "yes")
        self.assertEqual(score.reproduces(loss, ("loss", 3.0, "fixed loss")), "no")
        self.assertEqual(score.reproduces(None, bar), "unknown")
        self.assertEqual(score.reproduces(acc(0.5), None), "unknown")

if __name__ == "__main__":
    unittest.main()
