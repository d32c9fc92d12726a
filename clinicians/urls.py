from django.urls import path

from clinicians import views

app_name = "clinicians"
urlpatterns = [
    path("data/", views.patient_data, name="patient_data"),
    path("delete/", views.patient_delete, name="patient_delete"),
]
