import pytest

from accounts.models import Region, RegionLevel
from accounts.services import regions_sync


@pytest.mark.django_db
def test_regions_load_the_gb2260_tree_once():
    written = regions_sync()
    assert written > 3000
    nanchang = Region.objects.get(code="360100")
    assert nanchang.level == RegionLevel.CITY
    assert nanchang.parent is not None and nanchang.parent.code == "360000"
    assert Region.objects.get(code="360113").name == "红谷滩区"
    # municipalities hang their districts directly under the province level
    chaoyang = Region.objects.get(code="110105")
    assert chaoyang.parent is not None and chaoyang.parent.code == "110000"
    assert Region.objects.get(code="710000").name == "台湾省"
    assert regions_sync() == 0
