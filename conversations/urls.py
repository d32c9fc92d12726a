from django.urls import path

from conversations import views

app_name = "conversations"
urlpatterns = [
    path("", views.home, name="home"),
    path("help/", views.help_page, name="help"),
    path("conversations/", views.conversation_list, name="list"),
    path("conversations/new/", views.conversation_new, name="new"),
    path("conversations/<int:pk>/", views.conversation_detail, name="detail"),
    path("conversations/<int:pk>/stream/", views.conversation_stream, name="stream"),
    path("replies/<int:pk>/retry/", views.reply_retry_view, name="retry"),
]
