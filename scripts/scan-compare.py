#!/usr/bin/env python3
"""Precision and recall of secret scanners on the labelled corpus.

usage: scan-compare.py CORPUS_DIR STRONGROOM_JSON DETECT_SECRETS_JSON GREP_OUT
Counts (path, line) pairs on the corpus's secret labels (the families other
than the weak-crypto ones, which the other tools do not look for); a report on
an unlabelled line is a false positive. Prints a markdown table.
"""
import json, os, sys

WEAK = {"weak-hash", "broken-cipher", "ecb-mode", "rsa-short-key", "static-iv", "insecure-random"}
corpus, ours_path, ds_path, grep_path = sys.argv[1:5]
labels = json.load(open(os.path.join(corpus, "labels.json")))["labels"]
expected = {(l["path"], l["line"]) for l in labels if l["family"] not in WEAK}
weak_lines = {(l["path"], l["line"]) for l in labels if l["family"] in WEAK}

def rel(p):
    p = os.path.relpath(p, corpus) if os.path.isabs(p) or p.startswith(corpus) else p
    return p

ours = set()
for f in json.load(open(ours_path))["findings"]:
    if f["category"] == "secret":
        ours.add((rel(f["path"]), f["line"]))
ds = set()
for path, items in json.load(open(ds_path))["results"].items():
    for it in items:
        ds.add((rel(path), it["line_number"]))
gr = set()
for line in open(grep_path, errors="replace"):
    parts = line.split(":", 2)
    if len(parts) >= 2 and parts[1].isdigit():
        gr.add((rel(parts[0]), int(parts[1])))

print("| tool | reported | TP | FP | FN | precision | recall |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, got in (("strongroom scan", ours), ("detect-secrets", ds), ("grep -rIE", gr)):
    got = got - weak_lines  # weak-crypto lines are neither right nor wrong for a secret scanner
    tp = len(got & expected); fp = len(got - expected); fn = len(expected - got)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    print(f"| {name} | {len(got)} | {tp} | {fp} | {fn} | {p:.3f} | {r:.3f} |")
