"""The figures a script drew, in order, written to FOLDER/figures.json when it ends.

The report that embeds them (report/src/figures.cpp) reads that list, so no figure name is
kept in two places, and a figure the script skipped (no data for it) is not linked.
"""
import json
import os


class FigureList:
    def __init__(self, folder):
        self.folder, self.names = folder, []

    def save(self, fig, name, **savefig_args):
        fig.savefig(os.path.join(self.folder, name + ".png"), **savefig_args)
        self.names.append(name)

    def write(self):
        tmp = os.path.join(self.folder, "figures.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.names, f)
        os.replace(tmp, os.path.join(self.folder, "figures.json"))  # atomic
