#!/usr/bin/env python3
"""An independent reader for the vsphere tests: pyvmomi (VMware's Python
SDK, from PyPI) logs in to the simulator and prints, as JSON, what the
Rust client is expected to find: the about info, every datacenter with
its inventory path (folders included), and the datastores of each with
their summary. Usage: inventory.py HOST PORT USER (password on stdin)."""
import json
import ssl
import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim


def path_of(entity, root):
    parts = []
    while entity is not None and entity != root:
        parts.append(entity.name)
        entity = entity.parent
    return "/".join(reversed(parts))


def main():
    host, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    password = sys.stdin.read().strip()
    ctx = ssl._create_unverified_context()
    si = SmartConnect(host=host, port=port, user=user, pwd=password, sslContext=ctx)
    try:
        content = si.RetrieveContent()
        about = content.about
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.Datacenter], True
        )
        dcs = []
        for dc in view.view:
            stores = []
            # A container view, not Datacenter.datastore: the simulator's
            # ESXi model lists a stale reference there.
            dsview = content.viewManager.CreateContainerView(dc, [vim.Datastore], True)
            for ds in dsview.view:
                s = ds.summary
                stores.append(
                    {
                        "name": ds.name,
                        "accessible": bool(s.accessible),
                        "type": s.type,
                        "capacity": int(s.capacity),
                        "free_space": int(s.freeSpace),
                    }
                )
            dsview.Destroy()
            dcs.append(
                {
                    "moref": dc._moId,
                    "name": dc.name,
                    "path": path_of(dc, content.rootFolder),
                    "datastores": sorted(stores, key=lambda d: d["name"]),
                }
            )
        view.Destroy()
        print(
            json.dumps(
                {
                    "api_type": about.apiType,
                    "api_version": about.apiVersion,
                    "full_name": about.fullName,
                    "instance_uuid": about.instanceUuid,
                    "datacenters": sorted(dcs, key=lambda d: d["path"]),
                }
            )
        )
    finally:
        Disconnect(si)


if __name__ == "__main__":
    main()
