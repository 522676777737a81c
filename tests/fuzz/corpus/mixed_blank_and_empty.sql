

  -- header
	/* lead */ UPDATE t SET c = 1 WHERE id = 2;;
;START TRANSACTION; SAVEPOINT s; ROLLBACK TO s; END;