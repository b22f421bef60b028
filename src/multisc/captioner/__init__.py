"""Captioners as a choice: evaluating them as the paper's Table I does
([multisc.captioner.evaluate][multisc.captioner.evaluate]) against reference captions
([multisc.captioner.references][multisc.captioner.references])."""
