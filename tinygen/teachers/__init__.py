"""Teachers: the models that write the answers, behind one small async interface."""
