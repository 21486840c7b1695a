"""Privacy: updates and models sealed to the task's validators (`sealing`)."""
