"""What goes out on its own: schedules, audiences and the delivery engine."""
