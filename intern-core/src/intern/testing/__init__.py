"""The driver conformance kit: tests any driver runs against its own Remote to prove it honours the traits.

Subclass :class:`VolumeDriverTests` in a test module of your driver and give it a ``new_uri`` fixture; pytest
collects the inherited tests::

    import pytest
    from intern.testing import VolumeDriverTests

    class TestMyDriver(VolumeDriverTests):
        dtypes = ("uint8", "uint64")          # what your store can hold (default: all five below)

        @pytest.fixture
        def new_uri(self, tmp_path):
            return lambda name: f"mydb://{tmp_path}/{name}"

Class attributes say what a driver holds: ``dtypes`` (each test runs once per dtype listed), ``kinds`` (dtypes the
store holds only as segmentations), ``writable_scales`` (False where the store computes its coarser levels). Others
switch off what a driver does not claim: ``supports_scales`` (a pyramid at create),
``supports_create`` and ``supports_write`` (a read-only driver instead overrides the ``volume`` fixture to open an
existing volume filled with :func:`reference_data`). Tests a class switches off are reported as skipped, by name.
"""

from .kit import VolumeDriverTests, reference_data

__all__ = ["VolumeDriverTests", "reference_data"]
