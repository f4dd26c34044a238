#!/usr/bin/env python3
"""pyvmomi (VMware's Python SDK, from PyPI) as the independent client of
the deploy tests: it reads back what `esxi-iso deploy` made, and sets up
what the tests need on the simulator.

Usage: deploy_tool.py HOST PORT USER COMMAND [ARGS...]; the password on
stdin. Commands:
  vms                       every VM: name, moref, folder path, power
                            state, guest id, CPUs, memory, firmware, Secure
                            Boot, nested HV, boot order, extra config,
                            annotation, devices (NICs, disks, CD drives,
                            controllers), resource pool, host, datastores
  guest VM IP HOSTNAME      VMware Tools running in VM with this address and
                            host name (the simulator's SET.guest.* keys)
  foreign NAME [MAC]        a VM of NAME without any marker (a NIC with MAC)
  power-off VM              powers VM off
  portgroup PG              a distributed port group's effective policies
  mac-learning PG           gives distributed port group PG MAC learning and
                            forged transmits (needs the 6.7 types: the
                            connection asks for the 7.0 API)
  add-portgroup NAME        a standard port group NAME on vSwitch0 of every
                            host, promiscuous mode and forged transmits on
  folder PATH               creates VM folder PATH in the first datacenter
  pool NAME                 creates resource pool NAME in the first cluster
Prints JSON."""
import json
import ssl
import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import SoapStubAdapter, vim


def connect(host, port, user, password, version=None):
    ctx = ssl._create_unverified_context()
    if not version:
        return SmartConnect(host=host, port=port, user=user, pwd=password, sslContext=ctx)
    # The simulator says it speaks 6.5 only, and pyvmomi leaves out of a
    # 6.5 request what 6.5 did not have (the MAC management policy of
    # 6.7): ask for the newer version outright.
    stub = SoapStubAdapter(host=host, port=port, version=version, sslContext=ctx)
    si = vim.ServiceInstance("ServiceInstance", stub)
    si.RetrieveContent().sessionManager.Login(user, password)
    return si


def all_of(content, kind):
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def path_of(entity, stop):
    parts = []
    while entity is not None and not isinstance(entity, stop):
        parts.append(entity.name)
        entity = entity.parent
    return "/".join(reversed(parts))


def boot_entry(b):
    if isinstance(b, vim.vm.BootOptions.BootableDiskDevice):
        return {"type": "disk", "key": b.deviceKey}
    if isinstance(b, vim.vm.BootOptions.BootableCdromDevice):
        return {"type": "cdrom", "key": None}
    if isinstance(b, vim.vm.BootOptions.BootableEthernetDevice):
        return {"type": "ethernet", "key": b.deviceKey}
    return {"type": type(b).__name__, "key": None}


def device(d, by_key):
    ctl = by_key.get(d.controllerKey)
    base = {
        "key": d.key,
        "type": type(d).__name__.split(".")[-1],
        "controller": type(ctl).__name__.split(".")[-1] if ctl is not None else None,
        "unit": d.unitNumber,
    }
    if isinstance(d, vim.vm.device.VirtualEthernetCard):
        b = d.backing
        if isinstance(b, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
            net = {"portgroup_key": b.port.portgroupKey, "switch_uuid": b.port.switchUuid}
        else:
            net = {"network": b.deviceName if b is not None else None}
        base.update(mac=d.macAddress, address_type=d.addressType, **net)
        base["start_connected"] = bool(d.connectable and d.connectable.startConnected)
    elif isinstance(d, vim.vm.device.VirtualDisk):
        b = d.backing
        base.update(
            capacity_kb=d.capacityInKB,
            file=b.fileName,
            thin=bool(getattr(b, "thinProvisioned", False)),
        )
    elif isinstance(d, vim.vm.device.VirtualCdrom):
        b = d.backing
        base.update(
            backing=type(b).__name__.split(".")[-1] if b is not None else None,
            iso=b.fileName if isinstance(b, vim.vm.device.VirtualCdrom.IsoBackingInfo) else None,
            start_connected=bool(d.connectable and d.connectable.startConnected),
        )
    return base


def vms(si):
    content = si.RetrieveContent()
    out = []
    for v in all_of(content, vim.VirtualMachine):
        c = v.config
        devs = list(c.hardware.device)
        by_key = {d.key: d for d in devs}
        extra = {}
        for o in c.extraConfig:
            extra[o.key] = o.value
        bo = c.bootOptions
        kinds = (vim.vm.device.VirtualEthernetCard, vim.vm.device.VirtualDisk,
                 vim.vm.device.VirtualCdrom, vim.vm.device.VirtualController)
        out.append({
            "name": v.name,
            "moref": v._moId,
            "folder": path_of(v.parent, vim.Datacenter),
            "power_state": str(v.runtime.powerState),
            "guest_id": c.guestId,
            "cpus": c.hardware.numCPU,
            "memory_mb": c.hardware.memoryMB,
            "firmware": c.firmware,
            "secure_boot": bool(bo and bo.efiSecureBootEnabled),
            "nested_hv": bool(c.nestedHVEnabled),
            "boot_order": [boot_entry(b) for b in (bo.bootOrder if bo else [])],
            "extra_config": extra,
            "annotation": c.annotation,
            "devices": [device(d, by_key) for d in devs if isinstance(d, kinds)],
            "resource_pool": v.resourcePool.name if v.resourcePool else None,
            "host": v.runtime.host.name if v.runtime.host else None,
            "datastores": sorted(d.name for d in v.datastore),
        })
    return sorted(out, key=lambda x: x["name"])


def find_vm(si, name):
    for v in all_of(si.RetrieveContent(), vim.VirtualMachine):
        if v.name == name:
            return v
    raise SystemExit(f"no VM {name}")


def wait(task):
    while task.info.state not in ("success", "error"):
        pass
    if task.info.state == "error":
        raise SystemExit(str(task.info.error))
    return task.info.result


def guest(si, name, ip, hostname):
    v = find_vm(si, name)
    opts = [
        vim.option.OptionValue(key="SET.guest.toolsRunningStatus", value="guestToolsRunning"),
        vim.option.OptionValue(key="SET.guest.ipAddress", value=ip),
        vim.option.OptionValue(key="SET.guest.hostName", value=hostname),
    ]
    wait(v.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=opts)))
    return {"ok": True}


def foreign(si, name, mac=None):
    content = si.RetrieveContent()
    dc = content.rootFolder.childEntity[0]
    pool = all_of(content, vim.ResourcePool)[0]
    ds = dc.datastore[0]
    changes = []
    if mac:
        nic = vim.vm.device.VirtualVmxnet3(
            key=-1,
            addressType="manual",
            macAddress=mac,
            backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"),
        )
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=nic))
    spec = vim.vm.ConfigSpec(
        name=name,
        guestId="otherGuest64",
        files=vim.vm.FileInfo(vmPathName=f"[{ds.name}]"),
        deviceChange=changes,
    )
    vmref = wait(dc.vmFolder.CreateVM_Task(config=spec, pool=pool))
    return {"moref": vmref._moId}


def power_off(si, name):
    wait(find_vm(si, name).PowerOffVM_Task())
    return {"ok": True}


def pg_of(si, name):
    for pg in all_of(si.RetrieveContent(), vim.dvs.DistributedVirtualPortgroup):
        if pg.name == name:
            return pg
    raise SystemExit(f"no port group {name}")


def bool_policy(p):
    return None if p is None else p.value


def portgroup(si, name):
    port = pg_of(si, name).config.defaultPortConfig
    sec = port.securityPolicy
    mac = getattr(port, "macManagementPolicy", None)
    return {
        "promiscuous": bool_policy(sec.allowPromiscuous) if sec else None,
        "forged_transmits": bool_policy(sec.forgedTransmits) if sec else None,
        "mac_learning": bool(mac.macLearningPolicy.enabled) if mac and mac.macLearningPolicy else None,
    }


def mac_learning(si, name):
    pg = pg_of(si, name)
    policy = vim.dvs.VmwareDistributedVirtualSwitch.MacManagementPolicy(
        allowPromiscuous=False,
        macChanges=False,
        forgedTransmits=True,
        macLearningPolicy=vim.dvs.VmwareDistributedVirtualSwitch.MacLearningPolicy(
            enabled=True, allowUnicastFlooding=True, limit=4096, limitPolicy="drop"
        ),
    )
    port = vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(macManagementPolicy=policy)
    spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        name=pg.name, configVersion=pg.config.configVersion, defaultPortConfig=port
    )
    wait(pg.ReconfigureDVPortgroup_Task(spec))
    return {"ok": True}


def add_portgroup(si, name):
    security = vim.host.NetworkPolicy.SecurityPolicy(
        allowPromiscuous=True, macChanges=True, forgedTransmits=True
    )
    spec = vim.host.PortGroup.Specification(
        name=name, vlanId=0, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy(security=security),
    )
    hosts = all_of(si.RetrieveContent(), vim.HostSystem)
    for h in hosts:
        h.configManager.networkSystem.AddPortGroup(spec)
    return {"hosts": len(hosts)}


def folder(si, path):
    content = si.RetrieveContent()
    at = content.rootFolder.childEntity[0].vmFolder
    for part in path.split("/"):
        existing = [c for c in at.childEntity if c.name == part]
        at = existing[0] if existing else at.CreateFolder(part)
    return {"moref": at._moId}


def pool(si, name):
    cluster = all_of(si.RetrieveContent(), vim.ClusterComputeResource)[0]
    spec = vim.ResourceConfigSpec(
        cpuAllocation=vim.ResourceAllocationInfo(
            reservation=0, limit=-1, expandableReservation=True,
            shares=vim.SharesInfo(level="normal", shares=0)),
        memoryAllocation=vim.ResourceAllocationInfo(
            reservation=0, limit=-1, expandableReservation=True,
            shares=vim.SharesInfo(level="normal", shares=0)),
    )
    return {"moref": cluster.resourcePool.CreateResourcePool(name, spec)._moId}


def main():
    host, port, user, command = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    args = sys.argv[5:]
    password = sys.stdin.read().strip()
    version = "vim.version.v7_0" if command in ("mac-learning",) else None
    si = connect(host, port, user, password, version)
    try:
        fn = {
            "vms": lambda: vms(si),
            "guest": lambda: guest(si, *args),
            "foreign": lambda: foreign(si, *args),
            "power-off": lambda: power_off(si, *args),
            "portgroup": lambda: portgroup(si, *args),
            "mac-learning": lambda: mac_learning(si, *args),
            "add-portgroup": lambda: add_portgroup(si, *args),
            "folder": lambda: folder(si, *args),
            "pool": lambda: pool(si, *args),
        }[command]
        print(json.dumps(fn()))
    finally:
        Disconnect(si)


if __name__ == "__main__":
    main()
