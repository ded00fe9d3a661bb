from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("2fa/setup/", views.otp_setup, name="otp_setup"),
    path("2fa/verify/", views.otp_verify, name="otp_verify"),
    path("2fa/disable/", views.otp_disable, name="otp_disable"),
    path("profile/", views.profile, name="profile"),
    path("lockouts/", views.lockouts, name="lockouts"),
]
