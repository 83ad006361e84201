"""What each driver's classes claim to be, stated for the type checker: ``nox -s typecheck`` runs mypy over this
module beside every distribution's ``src/``.

Each function below takes a driver's classes and hands them to the :mod:`intern._traits` Protocols they implement. The
Protocols are structural, so nothing at run time checks a method's signature or an attribute's type; here mypy does,
and a driver whose volume forgets its ``io`` record, declares ``scheme`` as something other than text, or changes
``read``'s signature fails the type check. Nothing here runs (pytest collects no tests from this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intern._builtin.mem import MemRemote, MemVolume
    from intern._traits import (
        Remote,
        Resource,
        ServerService,
        SupportsChunkStamps,
        SupportsClose,
        SupportsCreate,
        SupportsDefaultChunks,
        SupportsLevelStorage,
        SupportsVersions,
        SupportsWrite,
        VolumeResource,
    )
    from intern_boss._remote import BossRemote
    from intern_boss._volume import BossChannel
    from intern_cloudvolume._remote import PrecomputedRemote
    from intern_cloudvolume._volume import PrecomputedVolume
    from intern_dvid._keyvalue import DvidKeyValue
    from intern_dvid._remote import DvidRemote
    from intern_dvid._volume import DvidVolume
    from intern_knossos._remote import KnossosRemote
    from intern_knossos._volume import KnossosVolume
    from intern_zarr._hdf5 import H5Group, H5Remote, H5Volume
    from intern_zarr._tiff import TiffRemote, TiffVolume
    from intern_zarr._zarr import ZarrGroup, ZarrRemote, ZarrVolume

    def mem(remote: MemRemote, volume: MemVolume) -> None:
        _remote: tuple[Remote, SupportsCreate] = (remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsChunkStamps] = (volume, volume, volume)

    def zarr(remote: ZarrRemote, volume: ZarrVolume, group: ZarrGroup) -> None:
        _remote: tuple[Remote, SupportsCreate] = (remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsLevelStorage, SupportsChunkStamps] = (
            volume, volume, volume, volume)
        _group: Resource = group

    def hdf5(remote: H5Remote, volume: H5Volume, group: H5Group) -> None:
        _remote: tuple[Remote, SupportsCreate] = (remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite] = (volume, volume)
        _group: Resource = group

    def tiff(remote: TiffRemote, volume: TiffVolume) -> None:
        _remote: tuple[Remote, SupportsCreate] = (remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsClose] = (volume, volume, volume)

    def precomputed(remote: PrecomputedRemote, volume: PrecomputedVolume) -> None:
        _remote: tuple[Remote, SupportsCreate, ServerService] = (remote, remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsLevelStorage, SupportsChunkStamps] = (
            volume, volume, volume, volume)

    def dvid(remote: DvidRemote, volume: DvidVolume, keyvalue: DvidKeyValue) -> None:
        _remote: tuple[Remote, SupportsCreate, ServerService, SupportsDefaultChunks] = (remote, remote, remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsVersions, SupportsChunkStamps] = (
            volume, volume, volume, volume)
        _keyvalue: Resource = keyvalue

    def boss(remote: BossRemote, channel: BossChannel) -> None:
        _remote: tuple[Remote, SupportsCreate, SupportsClose] = (remote, remote, remote)
        _channel: tuple[VolumeResource, SupportsWrite] = (channel, channel)

    def knossos(remote: KnossosRemote, volume: KnossosVolume) -> None:
        _remote: tuple[Remote, SupportsCreate, SupportsDefaultChunks] = (remote, remote, remote)
        _volume: tuple[VolumeResource, SupportsWrite, SupportsLevelStorage, SupportsChunkStamps] = (
            volume, volume, volume, volume)
