#!/usr/bin/env python3
"""Reads a run folder's TensorBoard event files with the real `tensorboard` package and
prints every scalar (steps and values), histogram and text tag, and the tags of the text and
hparams plugins, as JSON: the test compares them with what normgrad wrote (metrics.jsonl, probes.jsonl)."""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator

acc = event_accumulator.EventAccumulator(
    sys.argv[1], size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {}, "histograms": {}, "tensors": {}}
for t in tags["scalars"]:
    ev = acc.Scalars(t)
    out["scalars"][t] = {"steps": [e.step for e in ev], "values": [e.value for e in ev]}
for t in tags["histograms"]:
    ev = acc.Histograms(t)
    out["histograms"][t] = {"steps": [e.step for e in ev],
                            "num": [e.histogram_value.num for e in ev]}
def plugin_tags(plugin):
    try:
        return set(acc.PluginTagToContent(plugin))
    except KeyError:  # no tag of that plugin
        return set()


out["plugins"] = {p: sorted(plugin_tags(p)) for p in ("text", "hparams")}
for t in plugin_tags("text"):  # text samples (the text plugin stores them as string tensors)
    ev = acc.Tensors(t)
    out["tensors"][t] = {"steps": [e.step for e in ev],
                         "text": [e.tensor_proto.string_val[0].decode() for e in ev]}
print(json.dumps(out))
