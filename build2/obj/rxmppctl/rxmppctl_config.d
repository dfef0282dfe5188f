build2/obj/rxmppctl/rxmppctl_config.o: rxmppctl/rxmppctl_config.c \
 certtool/cert_set.h common/accounts.h common/jid.h common/scram.h \
 common/proto.h config/callbridges.h config/config.h common/config.h \
 config/config_edit.h config/config_yaml.h elector/elector_state.h \
 elector/elector_core.h rxmppctl/rxmppctl.h config/config.h
certtool/cert_set.h:
common/accounts.h:
common/jid.h:
common/scram.h:
common/proto.h:
config/callbridges.h:
config/config.h:
common/config.h:
config/config_edit.h:
config/config_yaml.h:
elector/elector_state.h:
elector/elector_core.h:
rxmppctl/rxmppctl.h:
config/config.h:
