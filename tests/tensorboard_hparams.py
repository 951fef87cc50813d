#!/usr/bin/env python3
"""Runs TensorBoard's own hparams plugin backend over a log folder of normgrad runs, as the
HPARAMS tab does, and prints JSON: the experiment it infers (each hyperparameter's name, type
and, for strings, the values seen; the number of metrics), every run's session start (its
hyperparameters) and end status, and the session groups that a filter keeps.
    tensorboard_hparams.py LOGDIR [HPARAM=VALUE]   (the filter: a string hyperparameter)
"""
import json
import sys

from google.protobuf import struct_pb2
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import (api_pb2, backend_context, get_experiment,
                                         list_session_groups, metadata)


def plain(value):
    """A google.protobuf.Value as a Python value."""
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind else None


logdir = sys.argv[1]
mux = plugin_event_multiplexer.EventMultiplexer()
mux.AddRunsFromDirectory(logdir)
mux.Reload()
tb = base_plugin.TBContext(logdir=logdir, multiplexer=mux,
                           data_provider=data_provider.MultiplexerDataProvider(mux, logdir))
backend = backend_context.Context(tb)
request_context = context.RequestContext()

experiment = get_experiment.Handler(request_context, backend, "").run()
out = {
    "hparams": {
        h.name: {"type": api_pb2.DataType.Name(h.type),
                 "domain": sorted(plain(v) for v in h.domain_discrete.values)}
        for h in experiment.hparam_infos
    },
    "metrics": sorted(m.name.tag for m in experiment.metric_infos),
    "sessions": {},
}
for run, tags in backend.hparams_metadata(request_context, "").items():
    session = out["sessions"].setdefault(run, {})
    if metadata.SESSION_START_INFO_TAG in tags:
        start = metadata.parse_session_start_info_plugin_data(
            tags[metadata.SESSION_START_INFO_TAG])
        session["hparams"] = {k: plain(v) for k, v in start.hparams.items()}
    if metadata.SESSION_END_INFO_TAG in tags:
        end = metadata.parse_session_end_info_plugin_data(tags[metadata.SESSION_END_INFO_TAG])
        session["status"] = api_pb2.Status.Name(end.status)

if len(sys.argv) > 2:  # what the tab shows with one value of a string hyperparameter ticked
    name, value = sys.argv[2].split("=", 1)
    request = api_pb2.ListSessionGroupsRequest(
        col_params=[api_pb2.ColParams(
            hparam=name, filter_discrete=struct_pb2.ListValue(
                values=[struct_pb2.Value(string_value=value)]))],
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS,
                          api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING],
        start_index=0, slice_size=1000)
    response = list_session_groups.Handler(request_context, backend, "", request).run()
    out["filtered"] = sorted(g.name for g in response.session_groups)
print(json.dumps(out))
