//! IRC numeric replies by name (RFC 1459/2812 and the Modern IRC client
//! protocol document), so that the rest of the edge never writes a bare
//! three-digit number.
//!
//! Only the numerics this server actually sends are listed. This module must
//! not hold any logic.

// Registration burst.
pub const RPL_WELCOME: &str = "001";
pub const RPL_YOURHOST: &str = "002";
pub const RPL_CREATED: &str = "003";
pub const RPL_MYINFO: &str = "004";
pub const RPL_ISUPPORT: &str = "005";

// LUSERS.
pub const RPL_LUSERCLIENT: &str = "251";
pub const RPL_LUSEROP: &str = "252";
pub const RPL_LUSERUNKNOWN: &str = "253";

// MONITOR (IRCv3).
pub const RPL_MONONLINE: &str = "730";
pub const RPL_MONOFFLINE: &str = "731";
pub const RPL_MONLIST: &str = "732";
pub const RPL_ENDOFMONLIST: &str = "733";
pub const ERR_MONLISTFULL: &str = "734";
pub const RPL_LUSERCHANNELS: &str = "254";
pub const RPL_LUSERME: &str = "255";
pub const RPL_LOCALUSERS: &str = "265";
pub const RPL_GLOBALUSERS: &str = "266";

// User modes, USERHOST, ISON, AWAY.
pub const RPL_UMODEIS: &str = "221";
pub const RPL_AWAY: &str = "301";
pub const RPL_USERHOST: &str = "302";
pub const RPL_ISON: &str = "303";
pub const RPL_UNAWAY: &str = "305";
pub const RPL_NOWAWAY: &str = "306";

// WHOIS / WHOWAS.
pub const RPL_WHOISUSER: &str = "311";
pub const RPL_WHOISSERVER: &str = "312";
pub const RPL_WHOISOPERATOR: &str = "313";
/// A bot (IRCv3 bot-mode).
pub const RPL_WHOISBOT: &str = "335";
pub const RPL_WHOISSECURE: &str = "671";
pub const RPL_WHOISCERTFP: &str = "276";
pub const RPL_WHOISACCOUNT: &str = "330";

// SASL (IRCv3 sasl-3.1/3.2).
pub const RPL_LOGGEDIN: &str = "900";
pub const RPL_LOGGEDOUT: &str = "901";
pub const ERR_NICKLOCKED: &str = "902";
pub const RPL_SASLSUCCESS: &str = "903";
pub const ERR_SASLFAIL: &str = "904";
pub const ERR_SASLTOOLONG: &str = "905";
pub const ERR_SASLABORTED: &str = "906";
pub const ERR_SASLALREADY: &str = "907";
pub const RPL_SASLMECHS: &str = "908";
pub const RPL_WHOWASUSER: &str = "314";
pub const RPL_ENDOFWHO: &str = "315";
pub const RPL_WHOISIDLE: &str = "317";
pub const RPL_ENDOFWHOIS: &str = "318";
pub const RPL_WHOISCHANNELS: &str = "319";
pub const RPL_ENDOFWHOWAS: &str = "369";

// LIST, channel modes, topics.
pub const RPL_LISTSTART: &str = "321";
pub const RPL_LIST: &str = "322";
pub const RPL_LISTEND: &str = "323";
pub const RPL_CHANNELMODEIS: &str = "324";
pub const RPL_CREATIONTIME: &str = "329";
pub const RPL_NOTOPIC: &str = "331";
pub const RPL_TOPIC: &str = "332";
pub const RPL_TOPICWHOTIME: &str = "333";

// INVITE, operators.
pub const RPL_INVITING: &str = "341";
pub const RPL_YOUREOPER: &str = "381";

// WHO, NAMES, ban/exception/invite lists.
pub const RPL_WHOREPLY: &str = "352";
pub const RPL_WHOSPCRPL: &str = "354";
pub const RPL_INVITELIST: &str = "346";
pub const RPL_EXCEPTLIST: &str = "348";
pub const RPL_BANLIST: &str = "367";
pub const RPL_NAMREPLY: &str = "353";
pub const RPL_ENDOFNAMES: &str = "366";
pub const RPL_ENDOFBANLIST: &str = "368";
pub const RPL_ENDOFEXCEPTLIST: &str = "349";
pub const RPL_ENDOFINVITELIST: &str = "347";

// About the server.
pub const RPL_INFO: &str = "371";
pub const RPL_ENDOFINFO: &str = "374";
pub const RPL_TIME: &str = "391";
pub const RPL_LINKS: &str = "364";
pub const RPL_ENDOFLINKS: &str = "365";
// HELP and HELPOP (Modern "HELP").
pub const RPL_HELPSTART: &str = "704";
pub const RPL_HELPTXT: &str = "705";
pub const RPL_ENDOFHELP: &str = "706";
pub const ERR_HELPNOTFOUND: &str = "524";

// MOTD.
pub const RPL_MOTD: &str = "372";
pub const RPL_MOTDSTART: &str = "375";
pub const RPL_ENDOFMOTD: &str = "376";
pub const ERR_NOMOTD: &str = "422";

// Errors.
pub const ERR_NOSUCHNICK: &str = "401";
pub const ERR_NOSUCHCHANNEL: &str = "403";
pub const ERR_CANNOTSENDTOCHAN: &str = "404";
pub const ERR_TOOMANYCHANNELS: &str = "405";
pub const ERR_WASNOSUCHNICK: &str = "406";
pub const ERR_TOOMANYTARGETS: &str = "407";
pub const ERR_NOORIGIN: &str = "409";
pub const ERR_INVALIDCAPCMD: &str = "410";
pub const ERR_NORECIPIENT: &str = "411";
pub const ERR_NOTEXTTOSEND: &str = "412";
pub const ERR_INPUTTOOLONG: &str = "417";
pub const ERR_UNKNOWNCOMMAND: &str = "421";
pub const ERR_NONICKNAMEGIVEN: &str = "431";
pub const ERR_ERRONEUSNICKNAME: &str = "432";
pub const ERR_NICKNAMEINUSE: &str = "433";
pub const ERR_USERNOTINCHANNEL: &str = "441";
pub const ERR_NOTONCHANNEL: &str = "442";
pub const ERR_USERONCHANNEL: &str = "443";
pub const ERR_NOTREGISTERED: &str = "451";
pub const ERR_NEEDMOREPARAMS: &str = "461";
pub const ERR_ALREADYREGISTERED: &str = "462";
pub const ERR_PASSWDMISMATCH: &str = "464";
pub const ERR_KEYSET: &str = "467";
pub const ERR_CHANNELISFULL: &str = "471";
pub const ERR_UNKNOWNMODE: &str = "472";
pub const ERR_INVITEONLYCHAN: &str = "473";
pub const ERR_BANNEDFROMCHAN: &str = "474";
pub const ERR_BADCHANNELKEY: &str = "475";
pub const ERR_BADCHANMASK: &str = "476";
pub const ERR_BANLISTFULL: &str = "478";
pub const ERR_NOPRIVILEGES: &str = "481";
pub const ERR_CHANOPRIVSNEEDED: &str = "482";
pub const ERR_NOOPERHOST: &str = "491";
pub const ERR_UMODEUNKNOWNFLAG: &str = "501";
pub const ERR_USERSDONTMATCH: &str = "502";

/// 396: the host the recipient is now shown with (after CHGHOST, to a
/// client without the chghost capability).
pub const RPL_VISIBLEHOST: &str = "396";
