from care import urls_keyaccounts, urls_tasks

app_name = "care"

# Care tasks, rules and greetings (urls_tasks); key accounts (urls_keyaccounts).
urlpatterns = [*urls_tasks.urlpatterns, *urls_keyaccounts.urlpatterns]
