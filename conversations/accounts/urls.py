"""Account pages (names without a namespace: ``login``, ``logout``, ``signup``, ``patient_data``...)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from conversations.accounts import views

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("settings/", views.patient_settings, name="patient_settings"),
    path("account/data/", views.patient_data, name="patient_data"),
    path("account/delete/", views.patient_delete, name="patient_delete"),
]
