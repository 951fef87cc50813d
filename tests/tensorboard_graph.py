#!/usr/bin/env python3
"""Runs TensorBoard's own graphs plugin backend over a log folder of normgrad runs, as the
GRAPHS tab does (the runs it offers, then each run's graph as the tab fetches it: the pbtxt
of /data/plugin/graphs/graph), and prints JSON: per run whether it has a run graph, and the
graph's nodes (name, op, inputs, output shapes, module, parameter shapes).
    tensorboard_graph.py LOGDIR
"""
import json
import sys

from google.protobuf import text_format
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.compat.proto import graph_pb2
from tensorboard.plugins import base_plugin
from tensorboard.plugins.graph import graphs_plugin


def shape(s):
    return [d.size for d in s.dim]


def node_json(n):
    attr = n.attr
    return {
        "name": n.name,
        "op": n.op,
        "input": list(n.input),
        "output_shapes": ([shape(s) for s in attr["_output_shapes"].list.shape]
                          if "_output_shapes" in attr else None),
        "module": attr["module"].s.decode() if "module" in attr else None,
        "params": {k[len("param/"):]: shape(v.shape) for k, v in attr.items()
                   if k.startswith("param/")},
    }


logdir = sys.argv[1]
mux = plugin_event_multiplexer.EventMultiplexer()
mux.AddRunsFromDirectory(logdir)
mux.Reload()
tb = base_plugin.TBContext(logdir=logdir, multiplexer=mux,
                           data_provider=data_provider.MultiplexerDataProvider(mux, logdir))
plugin = graphs_plugin.GraphsPlugin(tb)
ctx = context.RequestContext()
info = plugin.info_impl(ctx, "")
out = {"runs": {run: {"run_graph": item["run_graph"]} for run, item in info.items()},
       "graphs": {}}
for run, item in info.items():
    if not item["run_graph"]:
        continue
    body, _ = plugin.graph_impl(ctx, run, None, False, "")
    graph = text_format.Parse(body, graph_pb2.GraphDef())
    out["graphs"][run] = [node_json(n) for n in graph.node]
print(json.dumps(out))
