"""The driver conformance kit: tests any driver runs against its own Remote to prove it honours the traits.

Subclass :class:`VolumeDriverTests` in a test module of your driver and give it a ``new_uri`` fixture; pytest
collects the inherited tests::

    import pytest
    from intern.testing import Reference, VolumeDriverTests

    class TestMyDriver(VolumeDriverTests):
        dtypes = ("uint8", "uint64")          # what your store can hold (default: all five below)

        @pytest.fixture
        def new_uri(self, tmp_path):
            return lambda name: f"mydb://{tmp_path}/{name}"

        @pytest.fixture
        def references(self):                 # another implementation of the format: the kit's backdoor
            return [Reference("numpy", read=read_level_with_numpy, write=write_volume_with_numpy)]

Class attributes say what a driver holds: ``dtypes`` (each test runs once per dtype listed), ``kinds`` (dtypes the
store holds only as segmentations), ``shape``/``chunks``/``axes`` (4-D ``(c, z, y, x)`` or ``(t, z, y, x)`` where the
store has such axes), ``writable_scales`` (False where the store computes its coarser levels),
``creation_options`` (options of ``create`` the kit puts in a URI's query). Others switch off what a driver does not
claim: ``supports_scales`` (a pyramid at create), ``supports_create`` and ``supports_write`` (a read-only driver
instead overrides the ``volume`` fixture to open an existing volume filled with :func:`reference_data`). Tests a
class switches off are reported as skipped, by name.

The ``references`` fixture hands the kit independent implementations of the format (:class:`Reference`): the kit
then checks the stored bytes both ways (see :mod:`intern.testing._reference`). Drivers that answer built-in services
on their server subclass :class:`ServiceContractTests` too.
"""

from ._data import reference_data
from ._kit import VolumeDriverTests
from ._reference import Reference, StoredVolume, golden_files, kit_volume
from ._services import ServiceContractTests

__all__ = ["Reference", "ServiceContractTests", "StoredVolume", "VolumeDriverTests", "golden_files", "kit_volume",
           "reference_data"]
