from devices.views import board, joint_tests, network, points, registry

app_name = "devices"

urlpatterns = [
    *registry.urlpatterns,
    *points.urlpatterns,
    *board.urlpatterns,
    *joint_tests.urlpatterns,
    *network.urlpatterns,
]
